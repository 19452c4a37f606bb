"""Info-share entry points: the HTTP routers, the feed worker and the command-line tools."""
