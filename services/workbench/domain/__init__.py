"""What the workbench decides without I/O: sessions and their CSRF tokens, the words and cues of a card."""
