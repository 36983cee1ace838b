"""`users-service import` and `export`: the files they read and write, and their progress."""
