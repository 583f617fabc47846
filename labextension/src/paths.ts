/**
 * Jupyter's paths and the repository's: the contents API names a notebook relative to Jupyter's
 * root, the scheduler's API relative to the repository's top. The scheduler says where Jupyter's
 * root is in the repository (`GET /api/v1/info?jupyter_root=`, resolved where symbolic links can
 * be followed); this joins the two. Pure: unit-tested.
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

/**
 * A contents path as a path in the repository, given where Jupyter's root is in it (`""` at its
 * top); null when Jupyter's root or the path is outside the repository.
 */
export function repoPath(
  rootInRepo: string | null,
  contentsPath: string
): string | null {
  if (rootInRepo === null) {
    return null;
  }
  const parts = normalize(`${rootInRepo}/${contentsPath}`);
  return parts.length && parts[0] !== '..' ? parts.join('/') : null;
}
