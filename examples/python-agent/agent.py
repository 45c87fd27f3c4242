"""A Python agent traced with the plain OpenTelemetry SDK, sending spans to Cognive over OTLP/HTTP.

No instrumentation library: the agent records an ``invoke_agent`` span and, inside it, one
``chat {model}`` span per LLM call with the current OpenTelemetry GenAI semantic-convention
attributes, read from the OpenAI-compatible response. The LLM is called with ``urllib``.

    pip install -r requirements.txt
    OPENAI_API_KEY=sk-... python agent.py
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

SERVICE_NAME = "python-agent-example"
AGENT_NAME = "support-agent"
PROVIDER = "openai"


def traces_url() -> str:
    """``{endpoint}/v1/traces`` from COGNIVE_OTLP_URL or OTEL_EXPORTER_OTLP_ENDPOINT."""
    base = os.environ.get("COGNIVE_OTLP_URL") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://127.0.0.1:4318"
    return base.rstrip("/") + "/v1/traces"


def make_provider() -> TracerProvider:
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (e.g. cognive.team=cx).
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url())))
    return provider


def chat(tracer: trace.Tracer, base_url: str, api_key: str, model: str, messages: list[dict]) -> dict:
    """One Chat Completions call, recorded as a GenAI ``chat {model}`` client span."""
    url = base_url.rstrip("/") + "/chat/completions"
    server = urlsplit(url)
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.request.model": model,
                "server.address": server.hostname or "",
                "server.port": server.port or (443 if server.scheme == "https" else 80),
            }
        )
        request = urllib.request.Request(
            url,
            data=json.dumps({"model": model, "messages": messages}).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {api_key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            span.set_attribute("error.type", str(err.code))
            span.set_status(Status(StatusCode.ERROR, f"HTTP {err.code}"))
            raise
        except OSError as err:
            span.set_attribute("error.type", type(err).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(err)))
            raise

        usage = body.get("usage") or {}
        attributes = {
            "gen_ai.response.model": body.get("model"),
            "gen_ai.response.id": body.get("id"),
            "gen_ai.response.finish_reasons": [c.get("finish_reason") or "" for c in body.get("choices", [])],
            # OpenAI's prompt_tokens includes cached tokens, as gen_ai.usage.input_tokens must.
            "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
            "gen_ai.usage.cache_read.input_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        }
        span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        return body


def main() -> str:
    provider = make_provider()
    tracer = provider.get_tracer("cognive-python-agent-example")
    base_url = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    api_key = os.environ.get("OPENAI_API_KEY", "")
    model = os.environ.get("OPENAI_MODEL") or "gpt-4o-mini"
    try:
        with tracer.start_as_current_span(f"invoke_agent {AGENT_NAME}", kind=SpanKind.INTERNAL) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.provider.name": PROVIDER,
                    "gen_ai.agent.name": AGENT_NAME,
                    "gen_ai.request.model": model,
                }
            )
            messages = [
                {"role": "system", "content": "You are a terse support agent."},
                {"role": "user", "content": "How do I reset my password?"},
            ]
            body = chat(tracer, base_url, api_key, model, messages)
            answer = body["choices"][0]["message"]["content"] or ""
        print(answer)
        return answer
    finally:
        # Flush queued spans to the collector before the process exits.
        provider.shutdown()


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # noqa: BLE001 - a script's last resort: report and fail
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
