"""Workflows: declarative graphs of steps, executed as durable runs."""
