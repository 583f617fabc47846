import { describe, expect, it } from 'vitest';

import { absolutePath, contentsRelative, repoRelative } from '../src/paths';

describe('repoRelative', () => {
  it('is the contents path when Jupyter runs at the repository root', () => {
    expect(repoRelative('/home/ana/repo', '/home/ana/repo', 'a/b.ipynb')).toBe(
      'a/b.ipynb'
    );
  });

  it('prefixes the subdirectory Jupyter runs in', () => {
    expect(
      repoRelative('/home/ana/repo/reports', '/home/ana/repo', 'daily.ipynb')
    ).toBe('reports/daily.ipynb');
    expect(
      repoRelative('/home/ana/repo/reports/', '/home/ana/repo/', 'x/./y.ipynb')
    ).toBe('reports/x/y.ipynb');
  });

  it('strips the part above the repository when Jupyter runs above it', () => {
    expect(repoRelative('/home/ana', '/home/ana/repo', 'repo/d.ipynb')).toBe(
      'd.ipynb'
    );
  });

  it('is null outside the repository', () => {
    expect(repoRelative('/home/ana', '/home/ana/repo', 'other/d.ipynb')).toBe(
      null
    );
    // A sibling whose name starts with the repository's is not inside it.
    expect(repoRelative('/home/ana', '/home/ana/repo', 'repo2/d.ipynb')).toBe(
      null
    );
    expect(repoRelative('/home/ana/repo', '/home/ana/repo', '../x.ipynb')).toBe(
      null
    );
    expect(repoRelative('/home/ana/repo', '/home/ana/repo', '')).toBe(null);
  });

  it('takes Windows separators', () => {
    expect(
      repoRelative('C:\\work\\repo\\sub', '/C:/work/repo', 'n.ipynb')
    ).toBe('sub/n.ipynb');
  });
});

describe('absolutePath and contentsRelative', () => {
  it('join and invert', () => {
    expect(absolutePath('/srv/repo/', 'a/../b.ipynb')).toBe(
      '/srv/repo/b.ipynb'
    );
    expect(contentsRelative('/srv/repo/sub', '/srv/repo', 'sub/n.ipynb')).toBe(
      'n.ipynb'
    );
    expect(
      contentsRelative('/srv/repo/sub', '/srv/repo', 'other/n.ipynb')
    ).toBe(null);
  });
});
