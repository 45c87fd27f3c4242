"""One GenAI chat span, its messages as a log event and the GenAI client metrics, sent to Cognive with
the OpenTelemetry SDK on its default protocol, OTLP/gRPC.

Nothing here names a port or a path: the exporters read ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default
``http://localhost:4317``) and ``OTEL_EXPORTER_OTLP_HEADERS`` as every OTel SDK does, and
``OTEL_EXPORTER_OTLP_PROTOCOL`` picks the transport as ``opentelemetry-instrument`` does (``grpc`` when
unset, or ``http/protobuf``). Inside the chat span, a ``gen_ai.client.inference.operation.details``
event carries the input and output messages as structured attributes (the GenAI conventions' opt-in
content capture); the ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``
histograms record the call as instrumentations do.

    pip install -r requirements.txt
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python send_span.py

Exits 0 only if every export was acknowledged: ``force_flush()`` returned True, each exporter
reported success for every batch and none logged a failure.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
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


PROTOCOL = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
if PROTOCOL == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
elif PROTOCOL == "http/protobuf":
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
else:
    sys.exit(f"OTEL_EXPORTER_OTLP_PROTOCOL={PROTOCOL!r}: this example speaks grpc or http/protobuf")


class RecordingMetrics(MetricExporter):
    """The real metric exporter, remembering what it answered (a reader needs a MetricExporter)."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.results: list[MetricExportResult] = []

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.results.append(result)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


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
    metric_exporter = RecordingMetrics(OTLPMetricExporter())
    # A long interval: the one export happens at force_flush, after the call.
    meters = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)],
    )
    meter = meters.get_meter("python-grpc-example", "1.0.0")
    token_usage = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used",
        explicit_bucket_boundaries_advisory=[1, 4, 16, 64, 256, 1024, 4096, 16384, 65536],
    )
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration"
    )
    call_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
    }

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
    token_usage.record(1200, {**call_attributes, "gen_ai.token.type": "input"})
    token_usage.record(300, {**call_attributes, "gen_ai.token.type": "output"})
    duration.record(0.42, call_attributes)

    flushed = provider.force_flush()
    logs_flushed = logs.force_flush()
    metrics_flushed = meters.force_flush()
    provider.shutdown()
    logs.shutdown()
    meters.shutdown()
    ok = flushed and exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results)
    logs_ok = (
        logs_flushed
        and log_exporter.results
        and all(r is LogRecordExportResult.SUCCESS for r in log_exporter.results)
    )
    metrics_ok = (
        metrics_flushed
        and metric_exporter.results
        and all(r is MetricExportResult.SUCCESS for r in metric_exporter.results)
    )
    if not ok or not logs_ok or not metrics_ok or failures.messages:
        print(
            f"export failed over {PROTOCOL}: flushed={flushed} results={exporter.results} "
            f"logs_flushed={logs_flushed} log_results={log_exporter.results} "
            f"metrics_flushed={metrics_flushed} metric_results={metric_exporter.results} log={failures.messages}",
            file=sys.stderr,
        )
        return 1
    print(f"exported trace {trace_id} over {PROTOCOL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
