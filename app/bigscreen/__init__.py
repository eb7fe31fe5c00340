"""The hall's big screen (大屏): today's figures kept from the bus, pushed over a WebSocket."""
