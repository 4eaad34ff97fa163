"""What both ends of the daemon's socket share: where it listens, the messages, and who
is at the other end."""
