import fs from "node:fs";
import path from "node:path";
import component from "../index";
import { renderDocumentation } from "./documentation";

it("documentation.md matches the component definition (run `npm run docs` when this fails)", () => {
  const committed = fs.readFileSync(path.resolve(__dirname, "../../documentation.md"), "utf8");
  expect(committed).toBe(renderDocumentation(component));
});
