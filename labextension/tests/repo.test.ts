import { describe, expect, it } from 'vitest';

import { Info, SchedulerApi, Unreachable } from '../src/api';
import { outsideText, Repository } from '../src/repo';

/** A scheduler API whose `info()` answers from a list, counting the calls and the roots. */
function fakeApi(answers: Array<Info | Error>): SchedulerApi & {
  calls: number;
  roots: string[];
} {
  const fake = {
    calls: 0,
    roots: [] as string[],
    info(jupyterRoot: string): Promise<Info> {
      const answer = answers[Math.min(fake.calls, answers.length - 1)];
      fake.calls++;
      fake.roots.push(jupyterRoot);
      return answer instanceof Error
        ? Promise.reject(answer)
        : Promise.resolve(answer);
    }
  };
  return fake as unknown as SchedulerApi & { calls: number; roots: string[] };
}

const info: Info = {
  repo_root: '/srv/repo',
  branch: 'main',
  purposes: ['reporting'],
  jupyter_root: 'reports'
};

describe('Repository', () => {
  it('asks where its root is, once, and maps contents paths with the answer', async () => {
    const api = fakeApi([info]);
    const repo = new Repository(api, '/home/ana/repo/reports');
    expect(await repo.locate('daily.ipynb')).toEqual({
      info,
      path: 'reports/daily.ipynb'
    });
    expect((await repo.locate('x/y.ipynb')).path).toBe('reports/x/y.ipynb');
    expect(api.roots).toEqual(['/home/ana/repo/reports']);
  });

  it('says null for a notebook outside the repository', async () => {
    const above = { ...info, jupyter_root: null };
    const repo = new Repository(fakeApi([above]), '/srv');
    expect((await repo.locate('other/n.ipynb')).path).toBeNull();
    expect(outsideText('other/n.ipynb', info)).toContain(
      'outside the repository (/srv/repo)'
    );
  });

  it('asks again after a failure', async () => {
    const api = fakeApi([new Unreachable('down'), info]);
    const repo = new Repository(api, '/srv/repo/reports');
    await expect(repo.locate('n.ipynb')).rejects.toThrow('down');
    expect((await repo.locate('n.ipynb')).path).toBe('reports/n.ipynb');
    expect(api.calls).toBe(2);
  });

  it('keeps contents paths as they are without a server root', async () => {
    const repo = new Repository(fakeApi([info]), '');
    expect((await repo.locate('a/n.ipynb')).path).toBe('a/n.ipynb');
  });
});
