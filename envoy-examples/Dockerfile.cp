FROM node:20-bookworm-slim
WORKDIR /skiff
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ curl && npm ci && npm run build
ENTRYPOINT ["node", "/skiff/dist/src/cli/skiff-cp.js"]
