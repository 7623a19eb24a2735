/** The `stepwise` command. */
import { main } from "@stepwise/cli";

await main();
