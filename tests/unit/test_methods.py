"""Unit tests of StepMethods, the methods a layer of its own builds on: each call
checks its arguments and hands one step to the layer's ``_add``."""

from __future__ import annotations

from pytest_tcpclient import default_ca
from pytest_tcpclient.core import StepMethods


class Recorder(StepMethods):
    """A layer that keeps the steps it is given, in order."""

    timeout = 2.0

    def __init__(self):
        self.steps = []

    def _add(self, step):
        self.steps.append(step)


def test_each_call_declares_one_step_through_add():
    layer = Recorder()
    layer.expect_bytes(b"hi")
    layer.send_line(b"ok")
    layer.expect_disconnect(timeout=0.5)
    assert [str(step) for step in layer.steps] == [
        "expect_bytes(b'hi')",
        "send_line(b'ok')",
        "expect_disconnect()",
    ]
    assert [step.timeout for step in layer.steps] == [2.0, None, 0.5]


def test_start_tls_uses_the_processs_ca_unless_the_layer_names_another():
    layer = Recorder()
    layer.start_tls()
    layer.start_tls(client_certificate=True)
    assert [step.context for step in layer.steps] == [
        default_ca().server_context(),
        default_ca().server_context(client_certificate=True),
    ]
