/**
 * Onboarding: fetch the user, send a welcome email, wait (days in production), send tips.
 * The sleep costs nothing while it lasts; a restart in between loses nothing.
 */
import { NonRetriableError, type Stepwise } from "stepwise";
import type { Services } from "./services.ts";

export function createOnboarding(client: Stepwise, services: Services) {
  return client.createFunction({ id: "onboarding", name: "User onboarding" }, { event: "app/user.signed-up" }, async ({ event, step }) => {
    const user = await step.run("fetch-user", () => {
      const found = services.users.get(String(event.data.userId));
      if (!found) throw new NonRetriableError(`user ${event.data.userId} does not exist`);
      return found;
    });
    await step.run("send-welcome-email", () => {
      services.sent.push({ to: user.email, template: "welcome" });
      services.log(`  mail → ${user.email}: welcome`);
    });
    await step.sleep("wait-before-tips", (event.data.tipsDelay as string | undefined) ?? "3d");
    await step.run("send-tips-email", () => {
      services.sent.push({ to: user.email, template: "tips" });
      services.log(`  mail → ${user.email}: tips`);
    });
    return { onboarded: user.id };
  });
}
