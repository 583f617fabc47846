import { describe, expect, it } from 'vitest';

import { ApiError, Info, SchedulerApi, Unreachable } from '../src/api';
import { outsideText, Repository } from '../src/repo';

/** A scheduler API whose `info()` answers from a list, counting the calls. */
function fakeApi(answers: Array<Info | Error>): SchedulerApi & {
  calls: number;
} {
  const fake = {
    calls: 0,
    info(): Promise<Info> {
      const answer = answers[Math.min(fake.calls, answers.length - 1)];
      fake.calls++;
      return answer instanceof Error
        ? Promise.reject(answer)
        : Promise.resolve(answer);
    }
  };
  return fake as unknown as SchedulerApi & { calls: number };
}

const info: Info = {
  repo_root: '/srv/repo',
  branch: 'main',
  purposes: ['reporting']
};

describe('Repository', () => {
  it('maps contents paths with the server root and the repository root', async () => {
    const api = fakeApi([info]);
    const repo = new Repository(api, '/srv/repo/reports');
    expect(await repo.locate('daily.ipynb')).toEqual({
      info,
      path: 'reports/daily.ipynb'
    });
    expect((await repo.locate('x/y.ipynb')).path).toBe('reports/x/y.ipynb');
    expect(api.calls).toBe(1); // asked once
  });

  it('says null for a notebook outside the repository', async () => {
    const repo = new Repository(fakeApi([info]), '/srv');
    expect((await repo.locate('other/n.ipynb')).path).toBeNull();
    expect(outsideText('other/n.ipynb', info)).toContain(
      'outside the repository (/srv/repo)'
    );
  });

  it('asks again after a failure', async () => {
    const api = fakeApi([new Unreachable('down'), info]);
    const repo = new Repository(api, '/srv/repo');
    await expect(repo.locate('n.ipynb')).rejects.toThrow('down');
    expect((await repo.locate('n.ipynb')).path).toBe('n.ipynb');
    expect(api.calls).toBe(2);
  });

  it("takes Jupyter's root for the repository's with a runner without /info", async () => {
    const repo = new Repository(
      fakeApi([new ApiError(404, 'no such route')]),
      '/srv/repo'
    );
    expect(await repo.locate('n.ipynb')).toEqual({
      info: { repo_root: '/srv/repo', branch: 'main', purposes: [] },
      path: 'n.ipynb'
    });
  });

  it('keeps contents paths as they are without a server root', async () => {
    const repo = new Repository(fakeApi([info]), '');
    expect((await repo.locate('a/n.ipynb')).path).toBe('a/n.ipynb');
  });
});
