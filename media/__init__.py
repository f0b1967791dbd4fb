"""The WebRTC plane: the server-side aiortc peer and its data channels, whiteboard state,
object sharing with image sanitising, TURN credentials, and synthetic media for tests."""
