/**
 * ANSI SGR colours (as IPython writes tracebacks) turned into escaped HTML spans with classes,
 * so a traceback shows its colours under both themes. Pure, unit-tested.
 */

const COLOURS = [
  'black',
  'red',
  'green',
  'yellow',
  'blue',
  'magenta',
  'cyan',
  'white'
];

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** HTML for text with ANSI escapes: `<span class="tf-ansi-red tf-ansi-bold">…</span>`. */
export function ansiToHtml(text: string): string {
  let fg: string | null = null;
  let bg: string | null = null;
  let bold = false;
  let html = '';
  // eslint-disable-next-line no-control-regex
  const pattern = /\x1b\[([\d;]*)m/g;
  let last = 0;
  const emit = (chunk: string): void => {
    if (!chunk) {
      return;
    }
    const classes = [
      fg ? `tf-ansi-${fg}` : '',
      bg ? `tf-ansi-bg-${bg}` : '',
      bold ? 'tf-ansi-bold' : ''
    ].filter(Boolean);
    const escaped = escapeHtml(chunk);
    html += classes.length
      ? `<span class="${classes.join(' ')}">${escaped}</span>`
      : escaped;
  };
  for (const match of text.matchAll(pattern)) {
    emit(text.slice(last, match.index));
    last = match.index! + match[0].length;
    const codes = match[1] === '' ? [0] : match[1].split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === 0) {
        fg = bg = null;
        bold = false;
      } else if (code === 1) {
        bold = true;
      } else if (code === 22) {
        bold = false;
      } else if (code >= 30 && code <= 37) {
        fg = COLOURS[code - 30];
      } else if (code >= 90 && code <= 97) {
        fg = `bright-${COLOURS[code - 90]}`;
      } else if (code === 39) {
        fg = null;
      } else if (code >= 40 && code <= 47) {
        bg = COLOURS[code - 40];
      } else if (code === 49) {
        bg = null;
      } else if (code === 38 || code === 48) {
        // 256-colour and RGB forms: skipped, their arguments with them.
        i += codes[i + 1] === 5 ? 2 : 4;
      }
    }
  }
  emit(text.slice(last));
  // Other escapes (cursor moves) are dropped.
  // eslint-disable-next-line no-control-regex
  return html.replace(/\x1b\[[\d;]*[A-Za-z]/g, '');
}
