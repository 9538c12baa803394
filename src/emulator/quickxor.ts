// The hash lives with the client, which checks uploads with it; the emulator reports it the same way.
export { quickXorHash } from "../client/quickXorHash";
