/**
 * What the schedule form reads from a notebook: the parameters of its `parameters`-tagged cell
 * (as papermill and `runner exec` take them) and the tables its `%%sql` cells read (offered as
 * data-trigger inputs). Pure: works on plain cell models, unit-tested.
 */

/** The part of a notebook cell these functions read (nbformat's shape). */
export interface CellLike {
  cell_type: string;
  source: string | string[];
  metadata?: { tags?: string[] } & Record<string, unknown>;
}

export type ParameterKind = 'int' | 'float' | 'bool' | 'text' | 'other';

export interface NotebookParameter {
  name: string;
  /** The default as the cell writes it (Python). */
  literal: string;
  kind: ParameterKind;
  /** The default as the form shows it: strings unquoted, booleans true/false. */
  value: string;
}

const sourceOf = (cell: CellLike): string =>
  Array.isArray(cell.source) ? cell.source.join('') : cell.source;

/** The code cell tagged `parameters`, if any. */
export function parametersCell(cells: CellLike[]): CellLike | undefined {
  return cells.find(
    cell =>
      cell.cell_type === 'code' &&
      (cell.metadata?.tags ?? []).includes('parameters')
  );
}

/** `name = literal` assignments of a parameters cell, in order (comments dropped). */
export function parseParameters(source: string): NotebookParameter[] {
  const found = new Map<string, NotebookParameter>();
  for (const line of source.split('\n')) {
    const match =
      /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*[^=]+)?=\s*(.+?)\s*$/.exec(line);
    if (!match) {
      continue;
    }
    const literal = stripComment(match[2]);
    found.set(match[1], { name: match[1], literal, ...classify(literal) });
  }
  return [...found.values()];
}

function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') {
        i++;
      } else if (c === quote) {
        quote = null;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#') {
      return text.slice(0, i).trim();
    }
  }
  return text.trim();
}

function classify(literal: string): { kind: ParameterKind; value: string } {
  if (/^[-+]?\d+$/.test(literal)) {
    return { kind: 'int', value: literal };
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(literal)) {
    return { kind: 'float', value: literal };
  }
  if (literal === 'True' || literal === 'False') {
    return { kind: 'bool', value: literal === 'True' ? 'true' : 'false' };
  }
  const str = /^[rbuf]?("|')(.*)\1$/.exec(literal);
  if (str && !literal.startsWith('f') && !literal.startsWith('b')) {
    const raw = literal.startsWith('r');
    const body = str[2];
    return {
      kind: 'text',
      value: raw ? body : body.replace(/\\(["'\\])/g, '$1')
    };
  }
  return { kind: 'other', value: literal };
}

/** The notebook's parameters, from its `parameters` cell (none without one). */
export function notebookParameters(cells: CellLike[]): NotebookParameter[] {
  const cell = parametersCell(cells);
  return cell ? parseParameters(sourceOf(cell)) : [];
}

/**
 * The tables the `%%sql` cells read, as the policy names them (`source.table`): the source is the
 * cell's `--source`, else `defaultSource`. Sorted, without repeats.
 */
export function sqlInputs(
  cells: CellLike[],
  defaultSource = 'warehouse'
): string[] {
  const found = new Set<string>();
  for (const cell of cells) {
    if (cell.cell_type !== 'code') {
      continue;
    }
    const source = sourceOf(cell);
    const [first, ...rest] = source.split('\n');
    const magic = /^%%sql\s+\S+(.*)$/.exec(first.trim());
    if (!magic) {
      continue;
    }
    const option = /--source[=\s]+([A-Za-z_][\w]*)/.exec(magic[1]);
    const db = option ? option[1] : defaultSource;
    const body = rest
      .join('\n')
      .replace(/--[^\n]*/g, ' ')
      .replace(/'(?:[^']|'')*'/g, "''");
    const table =
      /\b(?:from|join)\s+((?:[A-Za-z_][\w$]*|"[^"]+")(?:\.(?:[A-Za-z_][\w$]*|"[^"]+"))*)/gi;
    for (const match of body.matchAll(table)) {
      const name = match[1]
        .split('.')
        .map(part => (part.startsWith('"') ? part : part.toLowerCase()))
        .join('.');
      found.add(`${db}.${name}`);
    }
  }
  return [...found].sort();
}
