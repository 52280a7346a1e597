"""`lsbert serve`: everything in one foreground command, an embedded Redis server, the
web server and one training worker, each a child process that stops with it."""
