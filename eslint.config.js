// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "dist-check/", "node_modules/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/cli/*"], message: "Nothing imports the composition root (DESIGN.md §2)." },
          ],
        },
      ],
    },
  },
  {
    // Tests may start the composition root to exercise the gateway as `wsgate serve` runs it.
    files: ["test/**", "**/*.test.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    // The data plane never talks to the API server and never reaches into sources or status.
    files: ["src/dataplane/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "@kubernetes/client-node",
              message: "The data plane never calls the API (DESIGN.md §2).",
            },
          ],
          patterns: [
            {
              // `**` too: sources/cluster/… is one level deeper.
              group: ["**/sources/*", "**/sources/**", "**/status/*", "**/cli/*", "**/kube/*"],
              message: "Imports point inward (DESIGN.md §2).",
            },
          ],
        },
      ],
    },
  },
  {
    // Sources fill the ObjectStore (DESIGN.md §2): the store is their output port, and
    // nothing else of routing is theirs to import; facts about API objects live in api.
    files: ["src/sources/**"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "/routing/(?!store\\.js$)",
              message:
                "Sources reach routing only through the ObjectStore, their output port (DESIGN.md §2).",
            },
            { group: ["**/cli/*"], message: "Nothing imports the composition root (DESIGN.md §2)." },
          ],
        },
      ],
    },
  },
  {
    // routing knows only api.
    files: ["src/routing/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: [
                "**/sources/*",
                "**/sources/**",
                "**/kube/*",
                "**/status/*",
                "**/dataplane/*",
                "**/observability/*",
                "**/cli/*",
                "**/config/*",
              ],
              message: "routing knows only api (DESIGN.md §2).",
            },
          ],
        },
      ],
    },
  },
);
