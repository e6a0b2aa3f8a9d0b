"""Shared fixtures. Media is generated here; nothing outside the repository is needed."""
