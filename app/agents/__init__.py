"""Agents at work: states over AMI, the wallboard, the agents' WebSockets."""
