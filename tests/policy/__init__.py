"""Tests of the platform policy: the table, the arbiter, routing and configuration."""
