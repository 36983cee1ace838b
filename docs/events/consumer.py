"""Follow users-service's change events: a durable JetStream consumer that keeps each
user's latest copy. Run: python consumer.py nats://127.0.0.1:4222 [STREAM]"""

import asyncio
import json
import sys

import nats


async def follow(url: str, stream: str = "USERS") -> None:
    client = await nats.connect(url)
    users, versions, seen = {}, {}, set()  # your store; last version applied; event ids
    inbox = await client.jetstream().pull_subscribe("users.v1.user.>", "mirror", stream=stream)
    while True:
        try:
            messages = await inbox.fetch(100, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for message in messages:
            event = json.loads(message.data)
            user, data = event["subject"], event["data"]
            # A repeat (same id) or a copy older than the one applied changes nothing.
            if event["id"] not in seen and versions.get(user, 0) <= data["version"]:
                deleted = event["type"].endswith(".deleted")
                users[user] = None if deleted else data
                versions[user] = float("inf") if deleted else data["version"]
                print(event["type"], user, data["version"], flush=True)
            seen.add(event["id"])
            await message.ack()


if __name__ == "__main__":
    asyncio.run(follow(*sys.argv[1:3]))
