import { css } from "lit";

/** The dark palette, used when the system prefers dark (unless `theme="light"`) or `theme="dark"`. */
const darkColors = css`
  --_bg: var(--cognive-bg, #0d1117);
  --_fg: var(--cognive-fg, #e6edf3);
  --_muted: var(--cognive-muted, #9198a1);
  --_border: var(--cognive-border, #3d444d);
  --_surface: var(--cognive-surface, #151b23);
  --_accent: var(--cognive-accent, #8c7ff0);
  --_error: var(--cognive-error, #f85149);
  --_warn: var(--cognive-warn, #d29922);
  --_ok: var(--cognive-ok, #3fb950);
`;

/**
 * Shared look. Every colour and size is a CSS custom property with a default, so a host page
 * themes all components by setting `--cognive-*` on any ancestor; dark mode follows the system
 * unless the page sets `theme="light"` or `theme="dark"` on a component or an ancestor's style.
 */
export const theme = css`
  :host {
    --_bg: var(--cognive-bg, #ffffff);
    --_fg: var(--cognive-fg, #1b1f24);
    --_muted: var(--cognive-muted, #59636e);
    --_border: var(--cognive-border, #d1d9e0);
    --_surface: var(--cognive-surface, #f6f8fa);
    --_accent: var(--cognive-accent, #5b4bdb);
    --_error: var(--cognive-error, #cf222e);
    --_warn: var(--cognive-warn, #9a6700);
    --_ok: var(--cognive-ok, #1a7f37);
    --_radius: var(--cognive-radius, 6px);
    --_font: var(--cognive-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
    --_mono: var(--cognive-mono, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
    display: block;
    color: var(--_fg);
    font-family: var(--_font);
    font-size: 14px;
    box-sizing: border-box;
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme="light"])) {
      ${darkColors}
    }
  }
  :host([theme="dark"]) {
    ${darkColors}
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  .state {
    padding: 16px;
    color: var(--_muted);
    border: 1px dashed var(--_border);
    border-radius: var(--_radius);
    text-align: center;
  }
  .state.error {
    color: var(--_error);
    border-color: var(--_error);
  }
  button {
    font: inherit;
    color: inherit;
  }
  :focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 1px;
  }
`;

/** A scrolling, bordered table with a caption: the frame the list parts share. */
export const tableFrame = css`
  .wrap {
    overflow-x: auto;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    background: var(--_bg);
  }
  table {
    border-collapse: collapse;
    width: 100%;
    font-variant-numeric: tabular-nums;
  }
  caption {
    text-align: left;
    padding: 8px 10px;
    font-weight: 600;
  }
`;
