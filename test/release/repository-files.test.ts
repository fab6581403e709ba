// The files a newcomer and GitHub read before any code: the licence package.json declares, the security
// policy, the contributing guide, issue forms GitHub accepts, and the Marketplace metadata of action.yml.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPOSITORY, VERSION } from "./repository.js";

const root = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

describe("LICENSE", () => {
  it("is the MIT licence package.json declares, with a copyright line", () => {
    expect((JSON.parse(read("package.json")) as { license: string }).license).toBe("MIT");
    const text = read("LICENSE");
    expect(text.startsWith("MIT License\n\nCopyright (c) 20")).toBe(true);
    expect(text).toContain("Permission is hereby granted, free of charge, to any person obtaining a copy");
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
  });
});

describe("SECURITY.md", () => {
  const text = read("SECURITY.md");
  it("says how to report privately, which versions get fixes, and what happens to secrets", () => {
    expect(text).toContain(`https://github.com/${REPOSITORY}/security/advisories/new`);
    expect(text).toMatch(/^## Supported versions$/m);
    expect(text).toContain(`| ${VERSION.split(".")[0]}.x`);
    expect(text).toMatch(/^## What ecr-mirror does with secrets$/m);
  });
});

describe("CONTRIBUTING.md", () => {
  const text = read("CONTRIBUTING.md");
  it("gives the README's setup and test commands, the dist/ rule, the stand-ins' contract and the release steps", () => {
    const readme = read("README.md");
    expect(readme).toContain("./scripts/setup");
    for (const command of ["./scripts/setup", "npm test", "npm run build", "bash .ci/run"])
      expect(text, command).toContain(command);
    for (const heading of [
      "Set up",
      "Test",
      "`dist/` is committed: rebuild it",
      "The crane and helm stand-ins",
      "Releasing",
      "Forks",
    ])
      expect(text, heading).toMatch(
        new RegExp(`^## ${heading.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`, "m"),
      );
    expect(text).toContain("test/stand-ins/contract.json");
    expect(text).toContain("node scripts/release-check.mjs X.Y.Z --prepare");
  });

  it("names only files that exist", () => {
    for (const [, path] of text.matchAll(
      /`((?:\.github|src|test|scripts|schema|\.ci)\/[\w./-]+|[\w-]+\.(?:md|json))`/g,
    ))
      expect(existsSync(join(root, path!)), path).toBe(true);
  });
});

describe("the issue and pull-request templates", () => {
  const dir = join(root, ".github", "ISSUE_TEMPLATE");
  const forms = readdirSync(dir).filter((f) => f.endsWith(".yml") && f !== "config.yml");

  it("are a bug report and a feature request, with blank issues off and security sent to private reporting", () => {
    expect(forms.sort()).toEqual(["bug_report.yml", "feature_request.yml"]);
    const config = parse(read(".github/ISSUE_TEMPLATE/config.yml")) as {
      blank_issues_enabled: boolean;
      contact_links: { name: string; url: string; about: string }[];
    };
    expect(config.blank_issues_enabled).toBe(false);
    for (const link of config.contact_links)
      expect(Object.keys(link).sort()).toEqual(["about", "name", "url"]);
    expect(config.contact_links.map((l) => l.url)).toContain(
      `https://github.com/${REPOSITORY}/security/advisories/new`,
    );
    expect(existsSync(join(root, ".github", "pull_request_template.md"))).toBe(true);
  });

  // GitHub's issue-form syntax: top-level name, description and body; each body element a known type, an
  // id unique in the form, a label for every input; dropdowns with options.
  it.each(forms)("%s is a valid issue form", (file) => {
    const form = parse(readFileSync(join(dir, file), "utf8")) as {
      name: string;
      description: string;
      body: {
        type: string;
        id?: string;
        attributes: { label?: string; value?: string; options?: unknown[] };
      }[];
    };
    expect(typeof form.name).toBe("string");
    expect(form.description.length).toBeGreaterThan(0);
    const ids = form.body.flatMap((b) => (b.id ? [b.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    for (const element of form.body) {
      expect(["markdown", "textarea", "input", "dropdown", "checkboxes"]).toContain(element.type);
      if (element.type === "markdown") expect(element.attributes.value).toBeTruthy();
      else expect(element.attributes.label, element.id).toBeTruthy();
      if (element.type === "dropdown") expect(element.attributes.options?.length).toBeGreaterThan(0);
      if (element.id) expect(element.id).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(form.body.some((b) => b.type !== "markdown")).toBe(true);
  });
});

describe("action.yml's Marketplace metadata", () => {
  const action = parse(read("action.yml")) as {
    name: string;
    description: string;
    author: string;
    branding: { icon: string; color: string };
  };
  it("has a name, an author, a description of at most 125 characters and branding GitHub accepts", () => {
    expect(action.name.length).toBeGreaterThan(0);
    expect(action.author.length).toBeGreaterThan(0);
    expect(action.description.length).toBeLessThanOrEqual(125);
    expect(["white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"]).toContain(
      action.branding.color,
    );
    expect(action.branding.icon).toMatch(/^[a-z0-9-]+$/);
  });
});
