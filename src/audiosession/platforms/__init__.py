"""The platform: what decides how sessions interact (policy), in process or via a daemon."""
