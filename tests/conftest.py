"""Shared fixtures: AiiDA's own pytest fixtures give every test session a temporary profile."""

pytest_plugins = ['aiida.tools.pytest_fixtures']
