// Splits a command line into arguments the way a POSIX shell does (quotes and backslashes only: no variables,
// globs or operators), and joins arguments back so that splitting gives them again. The rerun form shows a
// run's args this way, e.g. `--lr '[0.1, 0.2]'`.

export class ShellwordsError extends Error {}

export function split(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i] ?? "";
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellwordsError(`unterminated ' quote starting at character ${i + 1}`);
      current += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const d = line[i] ?? "";
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        const next = line[i + 1];
        if (d === "\\" && next !== undefined && '"\\$`\n'.includes(next)) {
          if (next !== "\n") current += next; // backslash-newline continues the line
          i += 2;
        } else {
          current += d;
          i++;
        }
      }
      if (!closed) throw new ShellwordsError('unterminated " quote');
    } else if (c === "\\") {
      const next = line[i + 1];
      if (next === undefined) throw new ShellwordsError("a trailing \\ escapes nothing");
      if (next !== "\n") current += next;
      i += 2;
    } else {
      current += c;
      i++;
    }
  }
  if (inWord) args.push(current);
  return args;
}

const SAFE = /^[A-Za-z0-9_\-+=.,:/@%^]+$/;

export function quote(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function join(args: readonly string[]): string {
  return args.map(quote).join(" ");
}
