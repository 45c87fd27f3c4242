"""One GenAI chat span sent to Cognive with the OpenTelemetry SDK on its default protocol, OTLP/gRPC.

Nothing here names a protocol, a port or a path: the exporter reads ``OTEL_EXPORTER_OTLP_ENDPOINT``
(default ``http://localhost:4317``) and ``OTEL_EXPORTER_OTLP_HEADERS`` as every OTel SDK does.

    pip install -r requirements.txt
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python send_span.py

Exits 0 only if the export was acknowledged: ``force_flush()`` returned True, the exporter
reported success for every batch and logged no failure.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

SERVICE_NAME = "python-grpc-example"


class RecordingExporter(SpanExporter):
    """Passes spans to the real exporter and remembers what it answered."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
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

    exporter = RecordingExporter(OTLPSpanExporter())
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("python-grpc-example", "1.0.0")

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
        trace_id = format(span.get_span_context().trace_id, "032x")

    flushed = provider.force_flush()
    provider.shutdown()
    ok = flushed and exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results)
    if not ok or failures.messages:
        print(f"export failed: flushed={flushed} results={exporter.results} log={failures.messages}", file=sys.stderr)
        return 1
    print(f"exported trace {trace_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
