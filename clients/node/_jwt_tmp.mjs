import { io } from "socket.io-client";
import { readFileSync } from "node:fs";
const URL = "http://127.0.0.1:3998";
const key = readFileSync("/tmp/ahdoc/alice.key", "utf8").trim();
const jwt = async () => (await (await fetch(`${URL}/api/v1/auth/token`, { method: "POST", headers: { Authorization: `Bearer ${key}` } })).json()).access_token;
const t0 = Date.now(); const t = () => ((Date.now() - t0) / 1000).toFixed(1);
for (const name of ["refresher", "idle"]) {
  const s = io(URL, { auth: { token: await jwt() }, transports: ["websocket"] });
  s.on("connect", () => console.log(t(), name, "connect"));
  s.on("disconnect", (r) => console.log(t(), name, "disconnect", r));
  s.on("auth:expiring", async (d) => {
    console.log(t(), name, "auth:expiring", JSON.stringify(d));
    if (name === "refresher") console.log(t(), name, "refresh ack", JSON.stringify(await s.timeout(3000).emitWithAck("auth:refresh", { token: await jwt() })));
    if (name === "refresher") console.log(t(), name, "refresh with key", JSON.stringify(await s.timeout(3000).emitWithAck("auth:refresh", { token: key })));
  });
}
setTimeout(() => process.exit(0), 80000);
