"""The transport layer: HTTP, the socket, the connection tracker and the frame pipeline."""
