"""Fixtures for the Hugging Face / SpeechBrain adapter tests: no test may touch the network."""

from __future__ import annotations

import socket

import pytest
import torch

torch.set_num_threads(1)


class NetworkUsed(AssertionError):
    """A test opened a network connection."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any TCP/UDP connection is a test failure (models and data load from local folders only)."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)  # local IPC (multiprocessing) is not the network
        raise NetworkUsed(f"a test tried to connect to {address!r}")

    def create_connection(address, *args, **kwargs):
        raise NetworkUsed(f"a test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
