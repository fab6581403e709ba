/**
 * The last line of defence between a list value and a tool's command line: a value given to crane or helm
 * as an argument of its own (a reference, a URL, a chart name, a version) that starts with `-` would be read
 * as a flag (`http://--platform=linux/p` once reached crane that way). The list's validation refuses such
 * values first; this refuses to build the argv if one slips through.
 */
export function positional(tool: "crane" | "helm", value: string, what: string): string {
  if (value === "" || value.startsWith("-"))
    throw new RangeError(
      `refusing to pass ${JSON.stringify(value)} to ${tool} as the ${what}: it would read as a flag`,
    );
  return value;
}
