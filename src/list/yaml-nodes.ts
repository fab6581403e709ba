/** Reading values out of YAML nodes the structure check has already typed: absent or mistyped reads as undefined. */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";

/** The value of `key` in a mapping. */
export function get(map: unknown, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  const pair = (map as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.value ?? undefined) as Node | undefined;
}

/** The key node of `key` in a mapping, where a problem about the key itself is reported. */
export function keyNode(map: unknown, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  return (map as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key)?.key as Node | undefined;
}

export function str(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
}

export function bool(node: unknown): boolean | undefined {
  return isScalar(node) && typeof node.value === "boolean" ? node.value : undefined;
}

export function int(node: unknown): number | undefined {
  return isScalar(node) && typeof node.value === "number" && Number.isInteger(node.value)
    ? node.value
    : undefined;
}

/** The strings of a list, each with its node. */
export function strings(node: unknown): { value: string; node: Node }[] {
  if (!isSeq(node)) return [];
  return node.items.flatMap((item) =>
    isScalar(item) && typeof item.value === "string" ? [{ value: item.value, node: item as Node }] : [],
  );
}
