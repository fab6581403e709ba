// What the GitHub runner would execute in a step's output: a model of actions/runner ActionCommandManager
// (ActionCommand.TryParseV2, then the legacy TryParse), kept apart from the product's own neutraliser so the
// tests do not grade the product with its own code.
//
// - The output is split into lines on \r\n, \n and a lone \r.
// - TryParseV2: the line after String.TrimStart() (every char.IsWhiteSpace character) starts with `::`, and a
//   second `::` ends the command section `name[ key=value,...]`; the rest is the data.
// - Only when that fails, the legacy form `##[name key=value;...]data` is looked for anywhere in the line.

/** .NET char.IsWhiteSpace: U+0009-U+000D, U+0020, U+0085, U+00A0 and the Zs, Zl, Zp categories. */
const DOTNET_WHITESPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/;

export interface WorkflowCommand {
  /** `v2` for `::name::`, `legacy` for `##[name]`. */
  form: "v2" | "legacy";
  name: string;
  /** The command section after the name (properties), as written. */
  properties: string;
  data: string;
  line: string;
}

export function runnerLines(output: string): string[] {
  return output.split(/\r\n|\r|\n/);
}

export function parseCommand(line: string): WorkflowCommand | null {
  const trimmed = line.replace(DOTNET_WHITESPACE, "");
  if (trimmed.startsWith("::")) {
    const end = trimmed.indexOf("::", 2);
    if (end >= 0) {
      const info = trimmed.slice(2, end);
      const space = info.indexOf(" ");
      return {
        form: "v2",
        name: space < 0 ? info : info.slice(0, space),
        properties: space < 0 ? "" : info.slice(space + 1),
        data: trimmed.slice(end + 2),
        line,
      };
    }
  }
  const prefix = line.indexOf("##[");
  if (prefix >= 0) {
    const close = line.indexOf("]", prefix);
    const info = close < 0 ? line.slice(prefix + 3) : line.slice(prefix + 3, close);
    const space = info.indexOf(" ");
    return {
      form: "legacy",
      name: space < 0 ? info : info.slice(0, space),
      properties: space < 0 ? "" : info.slice(space + 1),
      data: close < 0 ? "" : line.slice(close + 1),
      line,
    };
  }
  return null;
}

/** Every command the runner would find in `output`. A `::` line without a second `::` counts too (stricter). */
export function workflowCommands(output: string): WorkflowCommand[] {
  const out: WorkflowCommand[] = [];
  for (const line of runnerLines(output)) {
    const command = parseCommand(line);
    if (command) out.push(command);
    else if (line.replace(DOTNET_WHITESPACE, "").startsWith("::"))
      out.push({ form: "v2", name: "", properties: "", data: "", line });
  }
  return out;
}
