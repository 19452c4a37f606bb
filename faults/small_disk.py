"""A small ext4 volume in a file, loop-mounted where a cluster node keeps its data: a disk that can be filled."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SmallVolume:
    image: Path
    mount_point: Path
    size_mb: int = 256

    @staticmethod
    def available() -> str | None:
        """None when a loop mount can be made here; else why not."""
        if os.geteuid() != 0:
            return "needs root"
        if shutil.which("mkfs.ext4") is None or shutil.which("mount") is None:
            return "needs mkfs.ext4 and mount"
        return None

    def create(self) -> SmallVolume:
        self.mount_point.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as image:
            image.truncate(self.size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mount_point)], check=True,
                       capture_output=True)
        return self

    def delete(self) -> None:
        subprocess.run(["umount", str(self.mount_point)], capture_output=True)
        self.image.unlink(missing_ok=True)
