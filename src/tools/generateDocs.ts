import fs from "node:fs";
import path from "node:path";
import component from "../index";
import { renderDocumentation } from "./documentation";

const target = path.resolve(__dirname, "../../documentation.md");
fs.writeFileSync(target, renderDocumentation(component));
console.log(`wrote ${path.relative(process.cwd(), target)}`);
