/**
 * Where the open notebooks are in the repository: Jupyter's contents paths are relative to its
 * root (PageConfig `serverRoot`), the scheduler's paths to the repository's work tree, and
 * Jupyter may run in a subdirectory of the repository: `GET /api/v1/info?jupyter_root=` says
 * where its root is.
 */

import { PageConfig } from '@jupyterlab/coreutils';

import { Info, SchedulerApi } from './api';
import { repoPath } from './paths';

export interface Located {
  info: Info;
  /** The notebook's path in the repository; null when it is outside. */
  path: string | null;
}

export class Repository {
  private info: Promise<Info> | null = null;

  constructor(
    private readonly api: SchedulerApi,
    readonly serverRoot: string = PageConfig.getOption('serverRoot')
  ) {}

  /** The repository's info, asked once (again after a failure). */
  load(): Promise<Info> {
    if (!this.info) {
      this.info = this.api.info(this.serverRoot).catch((error: unknown) => {
        this.info = null;
        throw error;
      });
    }
    return this.info;
  }

  async locate(contentsPath: string): Promise<Located> {
    const info = await this.load();
    return {
      info,
      path: this.serverRoot
        ? repoPath(info.jupyter_root ?? null, contentsPath)
        : contentsPath
    };
  }
}

/** What the form and the pane say of a notebook outside the repository. */
export function outsideText(contentsPath: string, info: Info): string {
  return `${contentsPath} is outside the repository (${info.repo_root}): Tiffin schedules only notebooks kept in it. Move the notebook into the repository, or start Jupyter in the repository.`;
}
