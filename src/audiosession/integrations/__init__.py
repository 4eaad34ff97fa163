"""What connects the package to other systems: MPRIS on the session bus, aiortc tracks."""
