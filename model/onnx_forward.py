"""fp32 inference in ONNX Runtime: the network exported in memory, run by onnxruntime's CPU kernels.

``--precision onnx`` on a CPU: the same float32 network as ``fp32``, but its forward runs in
ONNX Runtime instead of PyTorch: a check that the networks behave the same in the runtime many
deployments use, and a backend that may be faster on some CPUs. On the AVX512 EPYC measured
(``benchmarks/precision.py --against onnx``, figures in ``benchmarks/README.md``) it was not.
The network is traced once per input shape (the predictor pads every batch to one size, so once
per model) into an in-memory ONNX graph (opset 17, the TorchScript-based exporter: these
networks are static, and it exports in about a second where the ``torch.export`` one takes
several); nothing is written to disk. Its outputs differ from PyTorch's in the last bits (other
kernels sum in another order), so it is cached apart like ``bf16`` and never replaces the fp32
figures. Reruns give the same bytes on one machine and onnxruntime version (tested in fresh
processes, and with one or two threads): the session runs one operator at a time, with
``intra_op_num_threads`` equal to torch's thread count.
"""

from __future__ import annotations

import io
import warnings

import torch

from model.errors import ModelError

__all__ = ["OnnxForward", "check_onnxruntime"]

OPSET = 17


def check_onnxruntime() -> None:
    """ModelError (one line) where onnxruntime is not installed."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError("precision=onnx needs onnxruntime: pip install 'ser-audit[onnx]'") from None


class OnnxForward:
    """``forward(x) -> logits`` like ``module(x)``, computed by an ONNX Runtime session of ``module``."""

    def __init__(self, module: torch.nn.Module, name: str = "model") -> None:
        check_onnxruntime()
        self.module, self.name = module.eval(), name
        self._sessions: dict[tuple[int, ...], object] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        session = self._sessions.get(shape)
        if session is None:
            session = self._sessions[shape] = self._session(x)
        x32 = x.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        (logits,) = session.run(None, {"x": x32})
        return torch.from_numpy(logits)

    def _session(self, example: torch.Tensor):
        import onnxruntime as ort

        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # the legacy exporter's deprecation notice, and the tracer's note that shape checks
                # become constants (the predictor feeds one fixed shape, which is what is traced)
                warnings.simplefilter("ignore")
                torch.onnx.export(self.module, (example.float().cpu(),), buf, input_names=["x"],
                                  output_names=["logits"], opset_version=OPSET, dynamo=False)
        except Exception as exc:  # the exporter raises many types; the first line says which op
            raise ModelError(f"{self.name}: cannot export to ONNX ({str(exc).splitlines()[0]})") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # idle threads sleep instead of spinning: spinning burns a core that the audit's other
        # processes (perturbation workers, a training beside it) need (measured: more CPU, not less)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only: no per-session notices on stderr
        return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
