import { describe, expect, it } from 'vitest';

import { ansiToHtml } from '../src/ansi';

describe('ansiToHtml', () => {
  it('renders colours and bold as classes and escapes the text', () => {
    const traceback =
      '\x1b[0;31mValueError\x1b[0m: no <such> customer & \x1b[1;32m"x"\x1b[0m\x1b[38;5;208mold\x1b[39m';
    expect(ansiToHtml(traceback)).toBe(
      '<span class="tf-ansi-red">ValueError</span>: no &lt;such&gt; customer &amp; ' +
        '<span class="tf-ansi-green tf-ansi-bold">&quot;x&quot;</span>old'
    );
  });
  it('handles bright and background colours and drops other escapes', () => {
    expect(ansiToHtml('\x1b[91;44mA\x1b[49mB\x1b[2K')).toBe(
      '<span class="tf-ansi-bright-red tf-ansi-bg-blue">A</span><span class="tf-ansi-bright-red">B</span>'
    );
  });
});
