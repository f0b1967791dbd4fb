"""The board on the server: each room's shared board, and the child's box of what was made."""
