import { describe, expect, it } from 'vitest';

import { repoPath } from '../src/paths';

describe('repoPath', () => {
  it('is the contents path when Jupyter runs at the repository top', () => {
    expect(repoPath('', 'a/b.ipynb')).toBe('a/b.ipynb');
  });

  it('prefixes the directory Jupyter runs in', () => {
    expect(repoPath('reports', 'daily.ipynb')).toBe('reports/daily.ipynb');
    expect(repoPath('reports/', 'x/./y.ipynb')).toBe('reports/x/y.ipynb');
    expect(repoPath('reports', '../top.ipynb')).toBe('top.ipynb');
  });

  it('is null outside the repository', () => {
    expect(repoPath(null, 'd.ipynb')).toBe(null);
    expect(repoPath('', '../x.ipynb')).toBe(null);
    expect(repoPath('reports', '../../x.ipynb')).toBe(null);
    expect(repoPath('', '')).toBe(null);
  });

  it('takes Windows separators', () => {
    expect(repoPath('sub\\dir', 'n.ipynb')).toBe('sub/dir/n.ipynb');
  });
});
