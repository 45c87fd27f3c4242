package dev.cognive.example;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.LongCounter;
import io.opentelemetry.api.metrics.LongHistogram;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import java.util.concurrent.TimeUnit;

/**
 * One model call as an instrumentation reports it: a chat span with GenAI attributes, the GenAI
 * client metrics and an application counter, sent with the SDK's autoconfigure defaults (OTLP/gRPC
 * to OTEL_EXPORTER_OTLP_ENDPOINT). Exits non-zero when a flush or the shutdown reports a failure.
 */
public final class Main {
  private static final AttributeKey<String> MODEL = AttributeKey.stringKey("gen_ai.request.model");
  private static final AttributeKey<String> OPERATION = AttributeKey.stringKey("gen_ai.operation.name");
  private static final AttributeKey<String> PROVIDER = AttributeKey.stringKey("gen_ai.provider.name");
  private static final AttributeKey<String> TOKEN_TYPE = AttributeKey.stringKey("gen_ai.token.type");

  private Main() {}

  public static void main(String[] args) {
    OpenTelemetrySdk sdk = AutoConfiguredOpenTelemetrySdk.initialize().getOpenTelemetrySdk();
    Tracer tracer = sdk.getTracer("cognive-java-example", "0.1.0");
    Meter meter = sdk.getMeter("cognive-java-example");

    Span span =
        tracer
            .spanBuilder("chat gpt-4o-mini")
            .setSpanKind(SpanKind.CLIENT)
            .setAttribute(OPERATION, "chat")
            .setAttribute(PROVIDER, "openai")
            .setAttribute(MODEL, "gpt-4o-mini")
            .setAttribute("gen_ai.response.model", "gpt-4o-mini")
            .setAttribute("gen_ai.usage.input_tokens", 1200L)
            .setAttribute("gen_ai.usage.output_tokens", 300L)
            .startSpan();
    span.end();

    Attributes call = Attributes.of(OPERATION, "chat", PROVIDER, "openai", MODEL, "gpt-4o-mini");
    LongHistogram tokens =
        meter.histogramBuilder("gen_ai.client.token.usage").ofLongs().setUnit("{token}").build();
    tokens.record(1200, call.toBuilder().put(TOKEN_TYPE, "input").build());
    tokens.record(300, call.toBuilder().put(TOKEN_TYPE, "output").build());
    DoubleHistogram duration =
        meter.histogramBuilder("gen_ai.client.operation.duration").setUnit("s").build();
    duration.record(0.42, call);
    LongCounter requests =
        meter.counterBuilder("example.requests").setUnit("{request}").build();
    requests.add(3, Attributes.of(AttributeKey.stringKey("route"), "/chat"));

    CompletableResultCode traces = sdk.getSdkTracerProvider().forceFlush().join(15, TimeUnit.SECONDS);
    CompletableResultCode metrics = sdk.getSdkMeterProvider().forceFlush().join(15, TimeUnit.SECONDS);
    CompletableResultCode shutdown = sdk.shutdown().join(15, TimeUnit.SECONDS);
    if (!traces.isSuccess() || !metrics.isSuccess() || !shutdown.isSuccess()) {
      System.err.printf(
          "export failed: traces=%s metrics=%s shutdown=%s%n",
          traces.isSuccess(), metrics.isSuccess(), shutdown.isSuccess());
      System.exit(1);
    }
    System.out.println("exported trace " + span.getSpanContext().getTraceId());
  }
}
