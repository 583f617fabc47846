/**
 * Jupyter's paths and the repository's: the contents API names a notebook relative to Jupyter's
 * root (PageConfig `serverRoot`), the scheduler's API relative to the repository's work tree
 * (`GET /api/v1/info`'s `repo_root`); Jupyter may be started in a subdirectory of the
 * repository. Pure: unit-tested.
 */

/** `a/./b/../c` → `a/c`, without a trailing slash; `..` above the top stays (the caller checks). */
function normalize(path: string): string[] {
  const parts: string[] = [];
  for (const part of path.replace(/\\/g, '/').split('/')) {
    if (part === '' || part === '.') {
      continue;
    }
    if (part === '..' && parts.length && parts[parts.length - 1] !== '..') {
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts;
}

/** The absolute path of a contents path under Jupyter's root. */
export function absolutePath(serverRoot: string, contentsPath: string): string {
  return '/' + normalize(`${serverRoot}/${contentsPath}`).join('/');
}

/**
 * A contents path made relative to the repository's root, or null when it is outside the
 * repository.
 */
export function repoRelative(
  serverRoot: string,
  repoRoot: string,
  contentsPath: string
): string | null {
  const file = normalize(absolutePath(serverRoot, contentsPath));
  const root = normalize(repoRoot);
  if (file.length <= root.length || root.some((part, i) => file[i] !== part)) {
    return null;
  }
  return file.slice(root.length).join('/');
}

/** The inverse: a repository-relative path as a contents path, or null outside Jupyter's root. */
export function contentsRelative(
  serverRoot: string,
  repoRoot: string,
  repoPath: string
): string | null {
  const file = normalize(`${repoRoot}/${repoPath}`);
  const root = normalize(serverRoot);
  if (file.length <= root.length || root.some((part, i) => file[i] !== part)) {
    return null;
  }
  return file.slice(root.length).join('/');
}
