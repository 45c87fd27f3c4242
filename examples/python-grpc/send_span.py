"""One GenAI chat span, and its messages as a log event, sent to Cognive with the OpenTelemetry SDK on
its default protocol, OTLP/gRPC.

Nothing here names a protocol, a port or a path: the exporters read ``OTEL_EXPORTER_OTLP_ENDPOINT``
(default ``http://localhost:4317``) and ``OTEL_EXPORTER_OTLP_HEADERS`` as every OTel SDK does.
Inside the chat span, a ``gen_ai.client.inference.operation.details`` event carries the input and
output messages as structured attributes (the GenAI conventions' opt-in content capture).

    pip install -r requirements.txt
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python send_span.py

Exits 0 only if both exports were acknowledged: ``force_flush()`` returned True, each exporter
reported success for every batch and none logged a failure.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

SERVICE_NAME = "python-grpc-example"

INPUT_MESSAGES = [
    {"role": "system", "parts": [{"type": "text", "content": "You answer in one sentence."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Where is my order #42?"}]},
]
OUTPUT_MESSAGES = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Order #42 shipped today."}],
        "finish_reason": "stop",
    }
]


class Recording:
    """Passes spans or log records to the real exporter and remembers what it answered."""

    def __init__(self, inner: SpanExporter | LogRecordExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult | LogRecordExportResult] = []

    def export(self, batch: Sequence[ReadableSpan] | Sequence[ReadableLogRecord]):
        result = self.inner.export(batch)  # type: ignore[arg-type]
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class FailureLog(logging.Handler):
    """Collects what the OpenTelemetry exporters log at WARNING and above (failed exports)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> int:
    failures = FailureLog()
    logging.getLogger("opentelemetry").addHandler(failures)

    exporter = Recording(OTLPSpanExporter())
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("python-grpc-example", "1.0.0")
    log_exporter = Recording(OTLPLogExporter())
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    logger = logs.get_logger("python-grpc-example", "1.0.0")

    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
            }
        )
        # Emitted in the span's context, so the record carries its trace and span id.
        logger.emit(
            event_name="gen_ai.client.inference.operation.details",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.input.messages": INPUT_MESSAGES,
                "gen_ai.output.messages": OUTPUT_MESSAGES,
            },
        )
        trace_id = format(span.get_span_context().trace_id, "032x")

    flushed = provider.force_flush()
    logs_flushed = logs.force_flush()
    provider.shutdown()
    logs.shutdown()
    ok = flushed and exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results)
    logs_ok = (
        logs_flushed
        and log_exporter.results
        and all(r is LogRecordExportResult.SUCCESS for r in log_exporter.results)
    )
    if not ok or not logs_ok or failures.messages:
        print(
            f"export failed: flushed={flushed} results={exporter.results} "
            f"logs_flushed={logs_flushed} log_results={log_exporter.results} log={failures.messages}",
            file=sys.stderr,
        )
        return 1
    print(f"exported trace {trace_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
