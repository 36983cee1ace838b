"""Follow users-service's change events: a durable JetStream consumer that keeps each
user's and each group's latest copy, and who is in which group.
Run: python consumer.py nats://127.0.0.1:4222 [STREAM] [PREFIX]"""

import asyncio
import json
import sys

import nats


async def follow(url: str, stream: str = "USERS", prefix: str = "users.v1") -> None:
    client = await nats.connect(url)
    # Your store: users and groups by id (their ids never repeat across the two), the last
    # version applied to each, the (group, user) memberships, the event ids seen.
    copies, versions, members, seen = {}, {}, set(), set()
    inbox = await client.jetstream().pull_subscribe(f"{prefix}.>", "mirror", stream=stream)
    while True:
        try:
            messages = await inbox.fetch(100, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for message in messages:
            event = json.loads(message.data)
            key, data, kind = event["subject"], event["data"], event["type"].rsplit(".", 1)[1]
            version = data["group_version"] if kind.startswith("member_") else data["version"]
            # A repeat (same id) or a copy older than the one applied changes nothing.
            if event["id"] not in seen and versions.get(key, 0) <= version:
                if kind == "member_added":
                    members.add((data["group_id"], data["user_id"]))
                elif kind == "member_removed":
                    members.discard((data["group_id"], data["user_id"]))
                else:
                    copies[key] = None if kind == "deleted" else data
                    if event["type"].endswith(".group.deleted"):  # its memberships went too
                        members = {(g, u) for g, u in members if g != data["id"]}
                versions[key] = float("inf") if kind == "deleted" else version
                print(event["type"], key, version, flush=True)
            seen.add(event["id"])
            await message.ack()


if __name__ == "__main__":
    asyncio.run(follow(*sys.argv[1:4]))
