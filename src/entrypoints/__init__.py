"""Ways into the service: the HTTP API, the CLI and the container that wires them."""
