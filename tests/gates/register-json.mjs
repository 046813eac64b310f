// node --import ./register-json.mjs: registers json-loader.mjs.
import { register } from "node:module";
register("./json-loader.mjs", import.meta.url);
